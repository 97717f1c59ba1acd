"""Captioning: a sentence for an image or a clip, written by the attentional decoder."""
