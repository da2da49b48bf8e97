"""The workbench's views, one module per group of pages (see newswatch.web.app for the URLs)."""
