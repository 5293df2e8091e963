"""Training: pretraining (MLM + sentence order) and fine-tuning, as readable loops over small pieces."""
