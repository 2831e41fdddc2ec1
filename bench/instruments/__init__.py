"""Measurements and checks of the harness itself: speed, start-up, crash safety, the GPU check.

Owns the bare training loop and FLOP counts behind the speed numbers (``bare``, ``flops``, ``perf``,
``startup``), tuner ask digests (``asks``), the crash test (``crashtest``) and the GPU check
(``gpu_check``). Nothing here is part of a run.

May import: every other ``bench`` package, ``methods``, ``segmentation``. Only the crash test's
fork server (``crashserver``) imports the command line, which it drives.
"""
