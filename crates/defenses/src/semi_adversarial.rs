//! To be written (issue 2).
