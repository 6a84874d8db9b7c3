//! Segments and templates over HTTP (being written).
