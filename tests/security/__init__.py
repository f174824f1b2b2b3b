"""The hostile-input suite (``make security``): every finding of issue 10 tried as an attacker would, on the real broker and chDB."""
