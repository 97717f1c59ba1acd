"""Music and sequence prediction: piano rolls (benchmarks, MIDI folders) and characters, next-step
language models trained with truncated BPTT, sampling to MIDI, and inspection of the units."""
