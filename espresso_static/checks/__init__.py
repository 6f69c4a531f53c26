"""Project checks run by `espresso-static check` and before every build."""
