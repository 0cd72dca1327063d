//! To be written (issue 4).
