"""The toy grammar, the training of the local transformer on it, and its evaluation.

Nothing in the app's model-loading path imports this package: ``load_model("local-trained")``
reads the committed checkpoint (``attnviz.local.checkpoint``) without any training code.

    lexicon    the words, with their number and other-number forms; the trained model's vocabulary
    grammar    sentences with gold dependency trees, by construction
    train      ``python -m attnviz.toygrammar.train``: makes the committed checkpoint
    evaluate   agreement accuracy, heads vs. the grammar's trees, random-weight models
"""
