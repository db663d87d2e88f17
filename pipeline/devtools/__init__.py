"""Development tools: the sample producer, sample text, the demo, the NLTK data command."""
