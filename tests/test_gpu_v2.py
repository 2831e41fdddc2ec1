"""The gpu-v2 profile (issue 28): cpu-v2's recipe at the gpu profile's full resolution."""
import dataclasses

from segmentation.profiles import PROFILES, RECIPE_FIELDS, get_profile


def test_gpu_v2_is_cpu_v2_recipe_at_gpu_resolution():
    cpu2, gpu, gpu2 = get_profile("cpu-v2"), get_profile("gpu"), get_profile("gpu-v2")
    for f in RECIPE_FIELDS + ("max_epochs",):  # same recipe and R as the proxy
        assert getattr(gpu2, f) == getattr(cpu2, f), f
    assert gpu2.max_epochs == 27 and gpu2.lr_schedule == "cosine" and gpu2.val_images == (8, 9) and gpu2.channels_last
    for f in ("scale", "patch", "encoders", "encoder_depth", "decoder_widths", "batch_sizes", "eval_batch_size",
              "images", "default"):  # the task of the gpu profile
        assert getattr(gpu2, f) == getattr(gpu, f), f
    differ = {f.name for f in dataclasses.fields(gpu2) if getattr(gpu2, f.name) != getattr(cpu2, f.name)}
    assert differ == {"name", "scale", "patch", "encoder_depth", "encoders", "batch_sizes", "eval_batch_size",
                      "default"}
    assert gpu2.data_key()["val_images"] == [8, 9] and gpu2.split_of(1, 8) == "val" and gpu2.split_of(5, 8) == "test"


def test_existing_profiles_unchanged():
    gpu = PROFILES["gpu"]
    assert (gpu.max_epochs, gpu.lr_schedule, gpu.val_images, gpu.channels_last) == (81, "constant", (9,), False)
    cpu2 = PROFILES["cpu-v2"]
    assert (cpu2.max_epochs, cpu2.lr_schedule, cpu2.val_images, cpu2.channels_last, cpu2.patch) == (27, "cosine", (8, 9), True, 32)


def test_the_resolution_ladder_profile_is_cpu_v2_at_twice_the_resolution():
    """cpu-v2-64px differs from cpu-v2 in scale and patch only (the same field of view per patch), so it
    records the same configuration sample under the same recipe."""
    from dataclasses import replace

    from bench.loop.record import sample_configs
    from segmentation.profiles import get_profile
    lo, hi = get_profile("cpu-v2"), get_profile("cpu-v2-64px")
    assert (hi.scale, hi.patch) == (2 * lo.scale, 2 * lo.patch)
    assert replace(hi, name=lo.name, scale=lo.scale, patch=lo.patch) == lo
    assert sample_configs("cpu-v2-64px", 16, 0) == sample_configs("cpu-v2", 128, 0)[:16]
