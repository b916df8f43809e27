# Sphinx configuration of `make docs` (docs/sphinx/build.sh); made with `antsibull-docs sphinx-init`
# and trimmed: no intersphinx (the build must not need the network), warnings are errors.
# pylint: disable=invalid-name

project = 'multicloud.mesh'
copyright = 'multicloud.mesh contributors'  # pylint: disable=redefined-builtin
title = 'multicloud.mesh collection documentation'
html_short_title = 'multicloud.mesh'

extensions = ['sphinx_antsibull_ext']

pygments_style = 'ansible'
highlight_language = 'YAML+Jinja'

html_theme = 'sphinx_ansible_theme'
html_show_sphinx = False
display_version = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False

default_role = 'any'
nitpicky = True
