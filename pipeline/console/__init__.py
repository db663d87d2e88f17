"""What a person sees while a job runs: the progress line, the live view, and what feeds them."""
