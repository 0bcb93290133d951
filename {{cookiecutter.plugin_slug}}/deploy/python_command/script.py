from {{ cookiecutter.package_name }}.framework.adapters.python_command import main

main()
