from {{ cookiecutter.package_name }} import PLUGIN
from {{ cookiecutter.package_name }}.framework.adapters.python_command import main

main(PLUGIN)
