//! report.json, terminal tables and HTML/SVG views.
