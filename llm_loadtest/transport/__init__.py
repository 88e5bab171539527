"""Sockets the client owns: HTTP/1.1 over keep-alive connections, read with the kernel's receive stamps."""
