"""The shared SMART Scheduling Links engine: manifest, FHIR resources, feeds and publishers."""
