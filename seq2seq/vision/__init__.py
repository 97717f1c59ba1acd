"""Still images for the recipes that look at them (captioning, VQA): generated scenes, image files
read and preprocessed as the video recipe's frames are, and grid features of a pretrained CNN."""
