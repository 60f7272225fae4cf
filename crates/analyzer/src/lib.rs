//! Analysis of `.mio` traces (issue 4 fills it).
