"""The segmentation task: U-Net on Dubai aerial imagery, 6 land-cover classes.

Knows nothing of tuners. Entry points:

* ``profiles.get_profile(name)`` — ``smoke``, ``cpu``, ``gpu``;
* ``space.search_space(profile)`` — the ConfigSpace hyperparameter space;
* ``train.load_task(profile)`` and ``train.train(config, epochs, seed, task)``;
* ``predict.predict_image`` and ``predict.save_mask_png``.
"""
