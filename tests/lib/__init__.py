"""Tests of the library, attnviz/: one file per module (or per group of modules that work together)."""
