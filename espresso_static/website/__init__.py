"""The build-site pipeline: collect, render, write, MkDocs, publish, cache."""
