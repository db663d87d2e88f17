"""Text: NLTK tokenizers (and their fast patterns), normalisation, NLTK data."""
