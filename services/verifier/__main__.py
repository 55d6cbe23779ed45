from services.verifier.main import main

main()
