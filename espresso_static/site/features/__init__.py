"""The kinds of output a site has besides the model pages."""
