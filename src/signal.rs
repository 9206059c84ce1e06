//! SIGINT / SIGTERM: finish or abandon the batch in flight, save state, exit 130 / 143.
