"""Web app measurements: Lighthouse scores, the byte budget and the server time of the task list."""
