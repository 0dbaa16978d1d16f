"""iCalendar feeds: secret URLs that publish a user's dated tasks to calendar apps."""
