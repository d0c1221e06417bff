from movierec.cli import main

main(prog_name="movierec")
