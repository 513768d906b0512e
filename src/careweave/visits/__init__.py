"""Video visits: the visit room, waiting room and WebRTC signaling (issue #5)."""
