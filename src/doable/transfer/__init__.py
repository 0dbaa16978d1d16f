"""Export and import: the versioned JSON document, our CSV, and Todoist's project CSV."""
