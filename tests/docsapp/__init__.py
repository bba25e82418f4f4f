"""The quick start's models, installed only where the guide's examples run (tests/test_docs_examples.py)."""
