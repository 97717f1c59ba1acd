"""Classification (many-to-one): one label per sentence or per action segment of a video."""
