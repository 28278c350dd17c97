#!/usr/bin/env python3
"""Small expression/statement cases for hotmoe's Jinja interpreter, rendered by Python's jinja2
configured as transformers does; writes Tests/TokenizerTests/Fixtures/chat_templates/expressions.json."""
import os
import json, jinja2
from jinja2.sandbox import ImmutableSandboxedEnvironment
env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
env.filters["tojson"] = lambda x, ensure_ascii=False, indent=None, separators=None, sort_keys=False: json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)
cases = [
 "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 10 / 5 }}",
 "{{ 'abc'[::-1] }}|{{ [1,2,3,4][1:3] }}|{{ 'hello'[-3:] }}|{{ [1,2,3][::2] }}",
 "{% for x in [3,1,2] | sort %}{{ loop.index }}{{ x }}{% if not loop.last %},{% endif %}{% endfor %}",
 "{% set ns = namespace(n=0) %}{% for i in range(5) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}",
 "{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}",
 "{% for k, v in {'b': 1, 'a': 2}.items() %}{{ k }}={{ v }};{% endfor %}",
 "{{ {'a': [1, 'x', none, true]} }} {{ ('a',) }} {{ \"it's\" }}",
 "{{ {'a': {'b': [1, 2.5]}, 'c': 'é\"'} | tojson }}|{{ [1,{'x':2}] | tojson(indent=2) }}",
 "{% macro m(a, b='d') %}[{{ a }}-{{ b }}]{% endmacro %}{{ m(1) }}{{ m(2, b=3) }}",
 "{{ undefined_var }}|{{ undefined_var is defined }}|{{ undefined_var | default('dflt') }}|{{ '' | default('e', true) }}",
 "  {% if true %}\n  yes\n  {% endif %}\n{{- ' x ' -}}\n  end",
 "{{ '  a b  '.strip() }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'Hello World'.lower() }}|{{ 'x'.upper() }}",
 "{{ [{'n':'a','t':1},{'n':'b','t':0}] | selectattr('t') | map(attribute='n') | list }}|{{ [1,2,2,3] | unique | list }}|{{ {'b':1,'a':2} | dictsort }}",
 "{{ 'abc' is string }}{{ 3 is number }}{{ none is none }}{{ {} is mapping }}{{ [] is iterable }}{{ 3 is odd }}{{ 'a' in 'cat' }}{{ 2 not in [1] }}",
 "{{ 'hello world' | title }}|{{ 'hELLO' | capitalize }}|{{ 'a\nb' | indent(2, first=true) }}|{{ 'one two three' | wordcount }}",
 "{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}",
 "{% for x in [] %}x{% else %}empty{% endfor %}|{% for x in [1,2,3] if x > 1 %}{{ loop.index }}/{{ loop.length }}{% endfor %}",
 "{{ 'yes' if 1 > 2 else 'no' }}|{{ [1,2] + [3] }}|{{ 'ab' * 3 }}|{{ 1 ~ 2 ~ 'x' }}|{{ 3.0 | int }}|{{ '4' | float }}|{{ true | string }}",
 "{%- set s %}captured {{ 1 + 1 }}{% endset -%}\n[{{ s }}]{# comment #}\n{{ [1,2,3] | join('-') }}|{{ [1,2,3] | first }}{{ [1,2,3] | last }}|{{ 'abc' | length }}",
 "{{ 'x' ~ none }}|{{ none }}|{{ 1 == 1.0 }}|{{ true == 1 }}|{{ [1,[2,3]] == [1,[2,3]] }}|{{ '%s' }}|{{ 'a' < 'b' }}",
]
out = []
for c in cases:
    try: out.append([c, env.from_string(c).render()])
    except Exception as e: out.append([c, None, str(e)])
root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
with open(os.path.join(root, "Tests/TokenizerTests/Fixtures/chat_templates/expressions.json"), "w", encoding="utf-8") as f:
    json.dump([{"template": c[0], "expected": c[1]} for c in out], f, ensure_ascii=False, indent=1)
print(len(out), "cases")
