"""A fake Symphony XTS for the tests: REST and Socket.IO v2 (aiohttp) on 127.0.0.1."""
