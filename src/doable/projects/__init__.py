"""Projects and their sections: where tasks live, in an order set by hand."""
