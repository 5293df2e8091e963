"""Fine-tuning ALBERT on a downstream task: five task kinds behind one loop.

``readers`` reads the files people have into examples, ``tasks`` turns examples into model
inputs and outputs back into predictions, ``metrics`` scores them as each benchmark reports,
``trainer`` is the loop, and ``evaluate`` runs a fine-tuned folder over a file.
"""
