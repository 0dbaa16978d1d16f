"""The built-in MCP server: task tools for AI assistants at /mcp (streamable HTTP)."""
