"""The programs that the harness measures, each run as its own process.

Every program reads the benchmark topic (or the corpus file) and stops by itself
when it has read what the topic held when it started; the counting ones write
`{"window_start", "window_end", "token", "count"}` rows as JSON lines, like the
pipeline's count rows, so the harness can check that every system did the same job.
"""
