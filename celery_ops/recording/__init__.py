"""The recorder: what signal handlers capture, how it is folded into rows, and the buffer
and flusher that write it in batches without ever blocking a task."""
