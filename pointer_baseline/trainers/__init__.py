"""Training entry points of the pointer network (``python -m pointer_baseline.trainers.pointer_trainer``)."""
