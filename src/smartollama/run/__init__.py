"""Running a verdict: the fallback loop (`execute`), the terminal (`stream`), learning and recording (`learn`), the interactive session."""
