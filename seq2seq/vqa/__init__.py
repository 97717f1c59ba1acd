"""Visual question answering: an image and a question in, the answer (a class) out."""
