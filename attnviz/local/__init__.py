"""The from-scratch transformer (``model``), its word tokenizer (``tokenizer``) and its checkpoints
(``checkpoint``): everything a local model needs to load and run, and nothing to train it."""
