"""The pipeline signal leaving Screen: webhook deliveries and their admin pages, the ATS
partner API and its completion callback, and exports (CSV, XLSX, JSON lines).
"""
