"""The build's stages, one module each; `pipeline.stage_list` puts them in order."""
