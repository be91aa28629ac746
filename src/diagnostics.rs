//! Diagnostics with stable error codes, rendered with codespan-reporting.
