"""Things a person looks at: episode contact sheets and animations (later: the HTML run report)."""
