//! The recorder: BPF probes on mysqld threads streamed into a `.mio` trace (issue 3 fills it).
