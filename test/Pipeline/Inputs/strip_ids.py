"""Prints an MLIR file without its instruction ids (plan.id attributes),
which sp-compile drops from the modules it prints, and with one newline at
its end (sp-opt prints a blank line after the module)."""
import re
import sys

text = open(sys.argv[1]).read()
# `plan.id = "..."` inside an attribute dict, with its comma, and dicts left empty.
text = re.sub(r', plan\.id = "[^"]*"', "", text)
text = re.sub(r'plan\.id = "[^"]*", ', "", text)
text = re.sub(r' \{plan\.id = "[^"]*"\}', "", text)
sys.stdout.write(text.rstrip("\n") + "\n")
